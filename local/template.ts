import { rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { App, Stack } from 'aws-cdk-lib';
import { createPipelineApp } from '../lib/app';

/** The parts of a CloudFormation template the local stack reads. */
export interface CfnTemplate {
  readonly Resources: Readonly<Record<string, CfnResource>>;
}

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
  readonly Metadata?: Readonly<Record<string, unknown>>;
}

/**
 * The pipeline stack's template, synthesized in-process from the CDK app: what runs locally is what deploys.
 * Bundling is skipped (the local runtime bundles each handler itself) and so are the cdk-nag checks.
 */
export function synthesizePipelineTemplate(): CfnTemplate {
  const { stack } = createPipelineApp({ bundle: false, nag: false });
  return synthesizeTemplate(stack);
}

/**
 * The template of any stack of a CDK app, e.g. a test's fixture stack. Outside the CDK CLI an app synthesizes
 * into a new temporary directory each time; that is removed, so that every `npm start` and test run does not
 * leave one behind.
 */
export function synthesizeTemplate(stack: Stack): CfnTemplate {
  const assembly = (stack.node.root as App).synth();
  const template = assembly.getStackByName(stack.stackName).template as CfnTemplate;
  if (path.resolve(assembly.directory).startsWith(path.join(os.tmpdir(), 'cdk.out'))) {
    rmSync(assembly.directory, { recursive: true, force: true });
  }
  return template;
}

/** The logical ids and resources of one type, in template order. */
export function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}
