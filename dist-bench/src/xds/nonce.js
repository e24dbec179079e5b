// Nonces unique per stream: a random per-stream prefix and a counter.
import { randomBytes } from 'node:crypto';
export class NonceGenerator {
    prefix = randomBytes(4).toString('hex');
    counter = 0;
    next() {
        this.counter += 1;
        return `${this.prefix}-${this.counter.toString(36)}`;
    }
}
//# sourceMappingURL=nonce.js.map