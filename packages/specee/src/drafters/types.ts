/**
 * A drafter proposes the k most likely next tokens before the target model
 * runs the step. `context` is every token so far (prompt and generated), the
 * last one being the token the target is about to process; the proposal is
 * for the token after it. `feature` is the target's final-normed hidden state
 * of the PREVIOUS position (what EAGLE heads read); drafters that do not need
 * it ignore it. Fewer than k ids (even none) may come back when the drafter
 * has nothing to say: SpecEE then cannot exit on that token.
 */
export interface Drafter {
  /** 'ngram', 'model', 'eagle'. */
  readonly kind: string;
  /** Whether `propose` needs `feature`. */
  readonly needsFeature: boolean;
  propose(context: readonly number[], k: number, feature?: Float32Array): Promise<number[]>;
  /** Forgets per-sequence state (a new request that shares no prefix). */
  reset?(): void;
}
