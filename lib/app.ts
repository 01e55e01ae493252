import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PipelineStack, type PipelineStackProps } from './pipeline-stack';

export interface CreatePipelineAppOptions {
  /**
   * Whether `NodejsFunction`s bundle their handlers with esbuild. Off for tests and the local runtime,
   * which only need the template.
   * @default true
   */
  readonly bundle?: boolean;
  /**
   * Properties of the stack.
   * @default - the stack's defaults
   */
  readonly stackProps?: Partial<PipelineStackProps>;
  /**
   * Construct id and CloudFormation name of the stack.
   * @default 'CommercePipeline'
   */
  readonly stackName?: string;
  /**
   * Whether cdk-nag's AwsSolutions checks run at synthesis (unacknowledged errors fail it).
   * @default true
   */
  readonly nag?: boolean;
}

/**
 * The CDK app: `bin/app.ts` for `cdk synth`/`deploy`, and the tests and the local runtime, which build the
 * same stack from here so that what runs locally is what deploys.
 */
export function createPipelineApp(options: CreatePipelineAppOptions = {}): {
  app: App;
  stack: PipelineStack;
} {
  const stackName = options.stackName ?? 'CommercePipeline';
  const app = new App({
    // The feature flags of cdk.json, which only the CDK CLI passes: every other synthesis gets the same template.
    context: cdkJsonContext(),
    // After the CLI's context, so that `bundle: false` holds under `cdk` too. No stack matches: nothing bundles.
    postCliContext: options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : undefined,
  });
  const stack = new PipelineStack(app, stackName, { ...options.stackProps, stackName });
  if (options.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  return { app, stack };
}

function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}
