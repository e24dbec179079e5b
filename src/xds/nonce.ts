// Nonces unique per stream: a random per-stream prefix and a counter.
import { randomBytes } from 'node:crypto';

export class NonceGenerator {
  private readonly prefix = randomBytes(4).toString('hex');
  private counter = 0;

  next(): string {
    this.counter += 1;
    return `${this.prefix}-${this.counter.toString(36)}`;
  }
}
