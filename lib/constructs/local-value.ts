import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/** Template metadata naming the local configuration variable that supplies a secret's value (docs/conventions.md). */
export const LOCAL_VALUE_FROM_METADATA_KEY = 'commerce-pipeline:local-value-from';

/** Marks `secret` as supplied, on the local stack, from the configuration variable `variable`. */
export function suppliedLocallyFrom(secret: secretsmanager.Secret, variable: string): void {
  (secret.node.defaultChild as secretsmanager.CfnSecret).addMetadata(LOCAL_VALUE_FROM_METADATA_KEY, variable);
}
