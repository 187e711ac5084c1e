export * from './calculator.js';
export * from './client.js';
export * from './dispatch.js';
export * from './errors.js';
export * from './spec.js';
export * from './validate.js';
