import type { GoogleAuth } from 'google-auth-library';

import type { ProviderAnswer, TokenProvider } from '../../registry/auth/cloud-keychain.js';
import { makeCredential } from '../../registry/auth/credentials.js';
import { exportsOf } from './interop.js';

const NAME = 'Google Application Default Credentials';
const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const PROJECT_UNUSED = 'fn-pinner-project-not-needed';
/** google-auth-library's message when no source of credentials exists (env file, gcloud, metadata server). */
const NO_ADC = /Could not load the default credentials/;
/** When a client reports no expiry (it always does for access tokens): refresh well within any real one. */
const ASSUMED_LIFETIME_MS = 10 * 60_000;

/** Container Registry and Artifact Registry hosts: gcr.io, us.gcr.io, europe-west1-docker.pkg.dev, … */
export function isGoogleRegistry(hostname: string): boolean {
  return hostname === 'gcr.io' || hostname.endsWith('.gcr.io') || hostname.endsWith('-docker.pkg.dev');
}

/**
 * An access token from Application Default Credentials (google-auth-library): GOOGLE_APPLICATION_CREDENTIALS
 * (a service account key or workload identity federation), gcloud's credentials, or the GCE/GKE metadata
 * server (Workload Identity). Sent as Basic `oauth2accesstoken:<token>`, as gcloud's credential helper does.
 * The library is imported on first use; it honours GCE_METADATA_HOST.
 */
export function googleProvider(): TokenProvider {
  let auth: GoogleAuth | undefined;
  return {
    name: NAME,
    serves: isGoogleRegistry,
    keyOf: () => 'adc',
    async fetch(): Promise<ProviderAnswer> {
      const lib = exportsOf(await import('google-auth-library'));
      if (!auth) {
        // gcp-metadata remembers "no metadata server" for the process; a new probe must really probe (the
        // GKE metadata server can be slow to answer in a pod's first seconds).
        lib.gcpMetadata.resetIsAvailableCache();
        // A token does not depend on the project; without one, the library looks for it first, spawning
        // `gcloud config config-helper` through a shell (half a second, and a process in the container).
        auth = new lib.GoogleAuth({ scopes: [SCOPE], projectId: PROJECT_UNUSED });
      }
      const current = auth;
      let client;
      try {
        client = await current.getClient();
      } catch (err) {
        auth = undefined;
        if (err instanceof Error && NO_ADC.test(err.message)) {
          return { absent: 'no credentials file, gcloud credentials or metadata server' };
        }
        throw err;
      }
      const { token } = await client.getAccessToken();
      if (!token) throw new Error('get access token: the answer held no token');
      const expiry = client.credentials.expiry_date ?? Date.now() + ASSUMED_LIFETIME_MS;
      const credential = makeCredential({ username: 'oauth2accesstoken', password: token, source: NAME });
      return { credential, expiresAt: expiry };
    },
  };
}
