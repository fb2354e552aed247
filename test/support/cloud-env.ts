/**
 * Cloud credentials are on by default (--cloud-credentials): a test that resolves a gcr.io, *-docker.pkg.dev
 * or ECR image would make google-auth-library and the AWS SDK probe their metadata services on the real
 * network (169.254.169.254, metadata.google.internal). Tests send traffic to loopback only, so every test
 * process points them at loopback: the Google probe at a closed port (connection refused, "no metadata
 * server"), and IMDS off. Tests that emulate a provider set these variables themselves.
 */
process.env.GCE_METADATA_HOST ??= '127.0.0.1:9';
process.env.AWS_EC2_METADATA_DISABLED ??= 'true';
