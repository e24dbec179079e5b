import { pino } from 'pino';
/** The one root logger; every component takes a child from it with `component` set. */
export function createRootLogger(level = 'info') {
    return pino({ level, base: { app: 'meshgate' } }, pino.destination({ dest: 2, sync: false }));
}
export function componentLogger(root, component) {
    return root.child({ component });
}
/** A logger that drops everything; for unit tests. */
export function silentLogger() {
    return pino({ level: 'silent' });
}
//# sourceMappingURL=logger.js.map