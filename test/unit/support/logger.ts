/** A logger that drops everything: the shape every port here logs through (`info`, `warn`, `error`). */
export const silentLogger = { info: () => {}, warn: () => {}, error: () => {} };
