import type { ECRClient } from '@aws-sdk/client-ecr';

import type { ProviderAnswer, TokenProvider } from '../../registry/auth/cloud-keychain.js';
import { makeCredential } from '../../registry/auth/credentials.js';
import { exportsOf } from './interop.js';

const NAME = 'AWS ECR GetAuthorizationToken';
/** `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`, as amazon-ecr-credential-helper matches them. */
const ECR_HOST = /^\d{12}\.dkr\.ecr(-fips)?\.([a-z0-9][a-z0-9-]*)\.amazonaws\.com(\.cn)?$/;
/** The SDK's default is no timeout at all; an ECR answer takes well under a second. */
const REQUEST_TIMEOUT_MS = 5_000;
const CONNECT_TIMEOUT_MS = 2_000;

export function isEcrRegistry(hostname: string): boolean {
  return ECR_HOST.test(hostname);
}

/** `us-east-1`, or `us-east-1 fips`: one client and one token per region (a token opens every registry there). */
function regionOf(hostname: string): string {
  const m = ECR_HOST.exec(hostname);
  return m ? `${m[2]}${m[1] ? ' fips' : ''}` : '';
}

/** The SDK's message when the default chain finds nothing (env, files, web identity, container, IMDS). */
function noCredentials(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'CredentialsProviderError';
}

/** `AWS:<password>`, base64: what GetAuthorizationToken hands out and `docker login` takes. */
function decodeToken(token: string): { username: string; password: string } {
  const text = Buffer.from(token, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) throw new Error('GetAuthorizationToken: the token is not user:password');
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * ECR credentials through GetAuthorizationToken (@aws-sdk/client-ecr, imported on first use), with the
 * SDK's default credential chain: environment, shared files, IRSA web identity, EKS Pod Identity and ECS
 * container credentials, the instance profile. The SDK honours AWS_ENDPOINT_URL_ECR.
 */
export function awsProvider(): TokenProvider {
  const clients = new Map<string, ECRClient>();
  return {
    name: NAME,
    serves: isEcrRegistry,
    keyOf: regionOf,
    async fetch(key): Promise<ProviderAnswer> {
      const sdk = exportsOf(await import('@aws-sdk/client-ecr'));
      const [region = '', fips] = key.split(' ');
      let client = clients.get(key);
      if (!client) {
        client = new sdk.ECRClient({
          region,
          useFipsEndpoint: fips === 'fips',
          maxAttempts: 2,
          requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: CONNECT_TIMEOUT_MS },
        });
        clients.set(key, client);
      }
      let out;
      try {
        out = await client.send(new sdk.GetAuthorizationTokenCommand({}));
      } catch (err) {
        if (noCredentials(err)) return { absent: 'no AWS credentials in the default chain' };
        throw err;
      }
      const data = out.authorizationData?.[0];
      if (!data?.authorizationToken) throw new Error('GetAuthorizationToken: the answer held no token');
      const { username, password } = decodeToken(data.authorizationToken);
      const expiresAt = data.expiresAt?.getTime() ?? Date.now() + 60 * 60_000;
      return { credential: makeCredential({ username, password, source: `${NAME} (${region})` }), expiresAt };
    },
  };
}
