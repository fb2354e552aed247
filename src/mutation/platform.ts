import type { Platform } from '../reference/platform.js';
import type { Pod } from './types.js';

const ARCH_LABELS = ['kubernetes.io/arch', 'beta.kubernetes.io/arch'];
const OS_LABELS = ['kubernetes.io/os', 'beta.kubernetes.io/os'];

export interface PodPlatform {
  platform: Platform;
  /** True when the pod pins its node's architecture, so the argv of that platform is the one that runs. */
  fixed: boolean;
}

function label(selector: Record<string, string>, keys: string[]): string | undefined {
  for (const key of keys) if (selector[key]) return selector[key];
  return undefined;
}

/** The platform the pod will run on: its nodeSelector, else the configured default. */
export function podPlatform(pod: Pod, fallback: Platform): PodPlatform {
  const selector = pod.spec?.nodeSelector ?? {};
  const architecture = label(selector, ARCH_LABELS);
  const os = label(selector, OS_LABELS);
  if (!architecture) return { platform: os ? { ...fallback, os } : fallback, fixed: false };
  return { platform: { os: os ?? fallback.os, architecture }, fixed: true };
}
