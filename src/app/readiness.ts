import type { Readiness } from '../server/types.js';

/** One condition of readiness: undefined when met, otherwise why not. */
export type ReadinessGate = () => string | undefined;

/**
 * Ready when every gate is. Otherwise /readyz gives every reason, so one probe shows all that is missing.
 * Each part of the program adds its gate to the list, and none needs to know about the others.
 */
export function readinessOf(gates: readonly ReadinessGate[]): Readiness {
  return {
    notReadyReason(): string | undefined {
      const reasons = gates.map((gate) => gate()).filter((r): r is string => r !== undefined);
      return reasons.length === 0 ? undefined : reasons.join('; ');
    },
  };
}
