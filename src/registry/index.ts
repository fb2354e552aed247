// The registry layer's public surface: the images layer imports from here only.
export { RegistryClient, sha256 } from './client.js';
export type { CallContext, ManifestResult, RegistryClientDeps } from './client.js';
export { own } from './strings.js';
export { MANIFEST_ACCEPT, MediaType, parseImageConfig, parseManifest } from './manifest.js';
export type { ImageConfig, IndexChild, Manifest } from './manifest.js';
export { AccessPolicy, BUILTIN_DENY, RegistryTransport, parseAccessPattern } from './transport/index.js';
export type { Credential, Keychain, KeychainLookup } from './auth/credentials.js';
export { credentialId } from './auth/credentials.js';
