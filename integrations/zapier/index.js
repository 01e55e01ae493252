// The entry point the Zapier CLI loads (`zapier push` wraps `index.js`): the app compiled from src/ by
// `npm run _zapier-build`, which `zapier push` runs first.
module.exports = require('./dist/index.js').default;
