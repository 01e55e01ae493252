import { lintOpenApiDocument } from '../../scripts/lint-openapi';

// `@redocly/cli lint` (recommended ruleset, redocly.yaml) on the document GET /openapi.json serves: no error, and
// no warning either, so that a new one is looked at rather than piling up.
describe('the OpenAPI document under Redocly lint', () => {
  it('has no error and no warning', () => {
    const lint = lintOpenApiDocument({ format: 'json' });
    let report: { totals: { errors: number; warnings: number }; problems: unknown[] };
    try {
      report = JSON.parse(lint.stdout);
    } catch {
      throw new Error(
        `redocly lint printed no JSON report (exit ${lint.status}):\n${lint.stdout}\n${lint.stderr}`,
      );
    }
    expect({ totals: report.totals, problems: report.problems }).toEqual({
      totals: expect.objectContaining({ errors: 0, warnings: 0 }),
      problems: [],
    });
    expect(lint.status).toBe(0);
  }, 60_000);
});
