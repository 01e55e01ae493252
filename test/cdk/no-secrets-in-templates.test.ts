import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { createPipelineApp } from '../../lib/app';

/**
 * The 2019 incident's lesson: no secret in a template or a function's environment, whatever the machine that
 * synthesizes has set. The CDK app is synthesized in-process with distinctive secret values in the environment
 * (as on an operator's machine with a local `.env` loaded); no file of the cloud assembly (every stack's
 * template, nested ones included, the manifests, the construct tree) may contain one of them, and the functions'
 * environments hold secrets only as `*_SECRET_ARN` references to secret resources.
 */
const SECRET_VALUES = {
  ADMIN_API_KEY: 'sk_admin_TEMPLATE_CANARY_4f1c9a2e7b3d',
  DEMO_STORE_API_KEY: 'sk_store_TEMPLATE_CANARY_8e2b6d0f5a1c',
  PAYMENT_GATEWAY_API_KEY: 'sk_live_TEMPLATE_CANARY_3a7d9c1e6f2b',
};
const SECRET_LOOKING_NAME = /SECRET|KEY|TOKEN|PASSWORD|CREDENTIAL/i;

type Template = {
  Resources?: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
};

let files: { name: string; text: string }[] = [];
let templates: { stackName: string; template: Template }[] = [];

beforeAll(() => {
  const saved = Object.fromEntries(Object.keys(SECRET_VALUES).map((name) => [name, process.env[name]]));
  Object.assign(process.env, SECRET_VALUES);
  try {
    // Bundling and cdk-nag change no template content; cdk-nag.test.ts runs the checks.
    const { app } = createPipelineApp({ bundle: false, nag: false });
    const assembly = app.synth();
    try {
      templates = assembly.stacksRecursively.map((stack) => ({
        stackName: stack.stackName,
        template: stack.template as Template,
      }));
      files = filesUnder(assembly.directory).map((file) => ({
        name: path.relative(assembly.directory, file),
        text: readFileSync(file, 'utf8'),
      }));
    } finally {
      rmSync(assembly.directory, { recursive: true, force: true });
    }
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});

test('the cloud assembly holds every stack, and no file of it contains a secret value', () => {
  expect(templates.map(({ stackName }) => stackName)).toContain('CommercePipeline');
  expect(files.some(({ name }) => name.endsWith('.template.json'))).toBe(true);
  for (const { name, text } of files) {
    for (const value of Object.values(SECRET_VALUES)) {
      expect({ file: name, contains: text.includes(value) }).toEqual({ file: name, contains: false });
    }
  }
});

test('secrets are resources with generated values, never literal ones', () => {
  for (const { template } of templates) {
    for (const resource of Object.values(template.Resources ?? {})) {
      if (resource.Type !== 'AWS::SecretsManager::Secret') continue;
      expect(resource.Properties?.SecretString).toBeUndefined();
      expect(resource.Properties?.GenerateSecretString).toBeDefined();
    }
  }
});

test("no function's environment holds a secret value, or a secret-looking name other than *_SECRET_ARN", () => {
  let functions = 0;
  for (const { stackName, template } of templates) {
    const resources = template.Resources ?? {};
    const secretIds = Object.keys(resources).filter(
      (logicalId) => resources[logicalId]?.Type === 'AWS::SecretsManager::Secret',
    );
    for (const [logicalId, resource] of Object.entries(resources)) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      functions += 1;
      const variables =
        (resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
          ?.Variables ?? {};
      for (const [name, value] of Object.entries(variables)) {
        const where = `${stackName}/${logicalId}: ${name}`;
        const text = JSON.stringify(value);
        for (const secret of Object.values(SECRET_VALUES)) {
          expect({ where, contains: text.includes(secret) }).toEqual({ where, contains: false });
        }
        if (SECRET_LOOKING_NAME.test(name)) {
          // Only a reference to a secret resource: its Ref is the ARN, which the function reads at run time.
          expect({ where, name }).toEqual({ where, name: expect.stringMatching(/_SECRET_ARN$/) });
          expect({ where, ref: secretIds.includes(String((value as { Ref?: unknown }).Ref)) }).toEqual({
            where,
            ref: true,
          });
        } else if (typeof value === 'string') {
          // Nothing that looks like a key either, whatever its name.
          expect({ where, value }).toEqual({
            where,
            value: expect.not.stringMatching(/^(sk|pk|rk|whsec)_|[A-Za-z0-9+/=_-]{32,}/),
          });
        }
      }
    }
  }
  expect(functions).toBeGreaterThan(0);
});

function filesUnder(directory: string): string[] {
  return readdirSync(directory).flatMap((entry) => {
    const file = path.join(directory, entry);
    return statSync(file).isDirectory() ? filesUnder(file) : [file];
  });
}
