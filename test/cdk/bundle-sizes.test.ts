import { BUNDLE_SIZE_LIMIT_BYTES, measureBundles } from '../../scripts/bundle-sizes';

/** Lean functions: every bundle, built as deployed, stays under 1 MiB minified (a cold start loads all of it). */
it('keeps every function bundle under 1 MiB minified', async () => {
  const sizes = await measureBundles();
  expect(sizes.length).toBeGreaterThanOrEqual(8);
  for (const { entry, bytes } of sizes) {
    expect({ entry, underLimit: bytes < BUNDLE_SIZE_LIMIT_BYTES }).toEqual({ entry, underLimit: true });
  }
}, 240_000);
