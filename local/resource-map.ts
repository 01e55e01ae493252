import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './aws-clients';
import type { CfnTemplate } from './template';

/** A template resource as it exists locally: what `Ref` and `Fn::GetAtt` of it give. */
export interface LocalResource {
  readonly logicalId: string;
  readonly type: string;
  /** The value of `Ref`: a name, a URL or an ARN, depending on the type (as in CloudFormation). */
  readonly ref: string;
  /** The values of `Fn::GetAtt`, e.g. `Arn`, `StreamArn`, `QueueUrl`. */
  readonly attributes: Readonly<Record<string, string>>;
}

export class UnresolvableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnresolvableError';
  }
}

const PSEUDO_PARAMETERS: Readonly<Record<string, string>> = {
  'AWS::Region': LOCAL_REGION,
  'AWS::AccountId': LOCAL_ACCOUNT_ID,
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
};

/**
 * The local identity of every resource of a template, and the resolution of the intrinsic functions that refer
 * to them (`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select`, `Fn::Split`). Resources the local stack
 * does not create (roles, log groups, secrets, functions...) still get a stable name and ARN, so that environment
 * variables naming them resolve.
 */
export class ResourceMap {
  private readonly resources = new Map<string, LocalResource>();

  constructor(
    readonly template: CfnTemplate,
    /** Prefixes every physical name, so that several stacks share the emulators without colliding. */
    readonly prefix: string,
  ) {
    for (const [logicalId, resource] of Object.entries(template.Resources)) {
      this.set(placeholderResource(logicalId, resource.Type, prefix));
    }
  }

  set(resource: LocalResource): void {
    this.resources.set(resource.logicalId, resource);
  }

  get(logicalId: string): LocalResource {
    const resource = this.resources.get(logicalId);
    if (!resource) throw new UnresolvableError(`The template has no resource "${logicalId}".`);
    return resource;
  }

  all(): LocalResource[] {
    return [...this.resources.values()];
  }

  /** The resource with this ARN: its `Ref` or any of its attributes (`Arn`, `StreamArn`). */
  findByArn(arn: string): LocalResource | undefined {
    return this.all().find(
      (resource) => resource.ref === arn || Object.values(resource.attributes).includes(arn),
    );
  }

  /** Resolves every intrinsic function inside `value`; `AWS::NoValue` removes the property. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value))
      return value.map((item) => this.resolve(item)).filter((item) => item !== undefined);
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value);
    const [first] = entries;
    if (entries.length === 1 && first && (first[0] === 'Ref' || first[0].startsWith('Fn::'))) {
      return this.resolveIntrinsic(first[0], first[1]);
    }
    const resolved: Record<string, unknown> = {};
    for (const [key, item] of entries) {
      const resolvedItem = this.resolve(item);
      if (resolvedItem !== undefined) resolved[key] = resolvedItem;
    }
    return resolved;
  }

  resolveString(value: unknown, what: string): string {
    const resolved = this.resolve(value);
    if (typeof resolved === 'string') return resolved;
    if (typeof resolved === 'number' || typeof resolved === 'boolean') return String(resolved);
    throw new UnresolvableError(`${what} does not resolve to a string: ${JSON.stringify(value)}`);
  }

  private resolveIntrinsic(name: string, argument: unknown): unknown {
    switch (name) {
      case 'Ref':
        return this.ref(String(argument));
      case 'Fn::GetAtt': {
        const [logicalId, attribute] = Array.isArray(argument)
          ? argument.map(String)
          : splitOnce(String(argument), '.');
        return this.getAtt(logicalId ?? '', attribute ?? '');
      }
      case 'Fn::Join': {
        const [separator, items] = argument as [string, unknown[]];
        return (this.resolve(items) as unknown[]).map(String).join(separator);
      }
      case 'Fn::Select': {
        const [index, items] = argument as [unknown, unknown];
        return (this.resolve(items) as unknown[])[Number(this.resolve(index))];
      }
      case 'Fn::Split': {
        const [separator, source] = argument as [string, unknown];
        return this.resolveString(source, 'Fn::Split').split(separator);
      }
      case 'Fn::Sub':
        return this.sub(argument);
      default:
        throw new UnresolvableError(`${name} is not supported by the local stack.`);
    }
  }

  private ref(name: string): string | undefined {
    if (name === 'AWS::NoValue') return undefined;
    if (name === 'AWS::StackName') return this.prefix;
    const pseudo = PSEUDO_PARAMETERS[name];
    if (pseudo !== undefined) return pseudo;
    return this.get(name).ref;
  }

  private getAtt(logicalId: string, attribute: string): string {
    const value = this.get(logicalId).attributes[attribute];
    if (value === undefined) {
      throw new UnresolvableError(`Fn::GetAtt ${logicalId}.${attribute} has no local value.`);
    }
    return value;
  }

  private sub(argument: unknown): string {
    const [text, variables] = Array.isArray(argument)
      ? [String(argument[0]), (argument[1] ?? {}) as Record<string, unknown>]
      : [String(argument), {}];
    return text.replace(/\$\{(!?)([^}]+)\}/g, (_match, literal: string, name: string) => {
      if (literal) return `\${${name}}`;
      if (name in variables) return this.resolveString(variables[name], `Fn::Sub variable ${name}`);
      const [logicalId, attribute] = splitOnce(name, '.');
      return attribute ? this.getAtt(logicalId, attribute) : (this.ref(logicalId) ?? '');
    });
  }
}

/** A physical name from the prefix and the logical id, within a service's length limit. */
export function physicalName(prefix: string, logicalId: string, maxLength: number): string {
  return `${prefix}-${logicalId}`.slice(0, maxLength);
}

export function arnOf(
  service: string,
  resource: string,
  options: { region?: string; account?: string } = {},
) {
  return `arn:aws:${service}:${options.region ?? LOCAL_REGION}:${options.account ?? LOCAL_ACCOUNT_ID}:${resource}`;
}

function placeholderResource(logicalId: string, type: string, prefix: string): LocalResource {
  const name = physicalName(prefix, logicalId, 64);
  switch (type) {
    case 'AWS::Lambda::Function':
      return { logicalId, type, ref: name, attributes: { Arn: arnOf('lambda', `function:${name}`) } };
    case 'AWS::SecretsManager::Secret': {
      const arn = arnOf('secretsmanager', `secret:${name}`);
      return { logicalId, type, ref: arn, attributes: { Id: arn } };
    }
    default: {
      const service = type.split('::')[1]?.toLowerCase() ?? 'local';
      return { logicalId, type, ref: name, attributes: { Arn: arnOf(service, name) } };
    }
  }
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const index = text.indexOf(separator);
  return index < 0 ? [text, undefined] : [text.slice(0, index), text.slice(index + separator.length)];
}
