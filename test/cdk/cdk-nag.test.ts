import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { createPipelineApp } from '../../lib/app';

interface ValidationReport {
  pluginReports: {
    pluginName: string;
    violations: { ruleName: string; severity: string; violatingConstructs: { constructPath: string }[] }[];
  }[];
}

/**
 * The unacknowledged AwsSolutions findings, errors and warnings, of a synthesized assembly. cdk-nag 3 is a
 * policy validation plugin: it reports into the assembly's validation report, not as annotations, and
 * synthesis throws only on errors.
 */
function awsSolutionsFindings(assembly: CloudAssembly): string[] {
  const reportFile = path.join(assembly.directory, 'validation-report.json');
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as ValidationReport;
  return report.pluginReports
    .filter((pluginReport) => pluginReport.pluginName === 'AwsSolutions')
    .flatMap((pluginReport) => pluginReport.violations)
    .flatMap((violation) =>
      violation.violatingConstructs.map(
        (c) => `${violation.severity} ${violation.ruleName} at ${c.constructPath}`,
      ),
    );
}

test('the pipeline app raises no unacknowledged cdk-nag AwsSolutions finding', () => {
  const { app } = createPipelineApp({ bundle: false });

  // Synthesis throws with the report on an unacknowledged finding; the report is read as well, so that a
  // warning fails this test even where it would not fail synthesis.
  const assembly = app.synth();

  expect(awsSolutionsFindings(assembly)).toEqual([]);
});

test('cdk-nag runs in the app: an unacknowledged finding fails synthesis', () => {
  const { app, stack } = createPipelineApp({ bundle: false, stackName: 'NagCanary' });
  // No dead-letter queue, TLS not enforced: AwsSolutions-SQS3 and AwsSolutions-SQS4.
  new sqs.Queue(stack, 'UnguardedQueue', { enforceSSL: false });

  expect(() => app.synth()).toThrow(/AwsSolutions-SQS3[\s\S]*NagCanary\/UnguardedQueue/);
});
