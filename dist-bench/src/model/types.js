// The model (IR): plain, validated, comparable data derived from Consul state.
// Produced by src/model (buildModel), consumed by src/translate. No I/O, no classes.
export {};
//# sourceMappingURL=types.js.map