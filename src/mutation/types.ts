/** The slice of the Pod API fn-pinner reads or writes; everything else passes through untouched. */
export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  [field: string]: unknown;
}

export interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
  ephemeralContainers?: Container[];
  imagePullSecrets?: Array<{ name?: string; [field: string]: unknown }>;
  nodeSelector?: Record<string, string>;
  [field: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    [field: string]: unknown;
  };
  spec?: PodSpec;
  [field: string]: unknown;
}

export const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;
export type ContainerList = (typeof CONTAINER_LISTS)[number];

/** Where fn-pinner records each mutated container's image as written, for people and auditors. */
export const ORIGINAL_IMAGES_ANNOTATION = 'fn-pinner.io/original-images';
/**
 * Set to "true" on every pod in which fn-pinner pinned an image, so that `kubectl get pods -l
 * '!fn-pinner.io/pinned'` lists what slipped through (admitted under Ignore, created before the webhook, or
 * never sent to it). A label, not an annotation, because only labels can be selected on.
 */
export const PINNED_LABEL = 'fn-pinner.io/pinned';
/** Set to "true" (or "skip") on a pod to have fn-pinner leave it alone. */
export const OPT_OUT_ANNOTATION = 'fn-pinner.io/skip';
