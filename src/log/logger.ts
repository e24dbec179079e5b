import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** The one root logger; every component takes a child from it with `component` set. */
export function createRootLogger(level: LevelWithSilent = 'info'): Logger {
  return pino({ level, base: { app: 'meshgate' } }, pino.destination({ dest: 2, sync: false }));
}

export function componentLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}

/** A logger that drops everything; for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
