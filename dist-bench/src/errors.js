// Typed errors with stable codes. Messages say what, where, and what to do.
export class MeshgateError extends Error {
    code;
    constructor(code, message, options) {
        super(message, options);
        this.name = 'MeshgateError';
        this.code = code;
    }
}
//# sourceMappingURL=errors.js.map