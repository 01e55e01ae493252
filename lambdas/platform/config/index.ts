/** Configuration: every variable named once (variables.ts), read once per function (read-config.ts). */
export * from './contract-config';
export { type ConfigOf, problemWith, readConfig } from './read-config';
export * from './variables';
