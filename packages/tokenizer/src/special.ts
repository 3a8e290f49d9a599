/**
 * Pieces that end a chat turn in common Llama-family vocabularies; when one is
 * in the vocabulary it joins EOS among the stop ids (llama.cpp's
 * special_eog_ids does the same by name).
 */
export const END_OF_TURN_PIECES: readonly string[] = [
  '<|eot_id|>', // Llama 3
  '<|eom_id|>', // Llama 3.1 tool calls
  '<|end_of_text|>', // Llama 3 base EOS
  '<|im_end|>', // ChatML (Qwen2, SmolLM...)
  '<|endoftext|>', // GPT-2 / Qwen2
  '<|end|>', // Phi-3
  '<end_of_turn>', // Gemma
];

export function stopIdsFromPieces(lookup: (piece: string) => number | undefined): number[] {
  const out: number[] = [];
  for (const p of END_OF_TURN_PIECES) {
    const id = lookup(p);
    if (id !== undefined) out.push(id);
  }
  return out;
}
