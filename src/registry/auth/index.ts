export { parseWwwAuthenticate, type Challenge } from './challenge.js';
export {
  credentialKind,
  describeCredential,
  makeCredential,
  sameSecret,
  type Credential,
  type CredentialKind,
  type Keychain,
} from './credentials.js';
export { parseDockerConfig, type DockerConfigEntry, type ParsedDockerConfig } from './docker-config.js';
export {
  compareSpecificity,
  keyMatches,
  matchingEntries,
  parseRegistryKey,
  redactKey,
  type RegistryKey,
} from './host-match.js';
export {
  DockerConfigKeychain,
  createDefaultKeychain,
  defaultKeychainPaths,
  type DockerConfigKeychainOptions,
  type KeychainEnv,
} from './keychain.js';
export {
  RoutingKeychain,
  isDefaultRegistryImage,
  normalizeImagePrefix,
  type RoutingKeychainOptions,
} from './routing.js';
