// Makes the ggml block-type test vectors: f32 inputs quantized with ggml's
// ggml_quantize_chunk (the reference quantizers), plus blocks whose code bytes
// are random (scale fields kept finite), all dequantized with ggml's own
// to_float (dequantize_row_* from libggml-base). Linked against a llama.cpp
// build; see README.md and gen.sh. No llama.cpp code is copied here.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "ggml.h"

// Exported by libggml-base (ggml-quants.h, not a public header).
void quantize_row_q8_K_ref(const float * x, void * y, int64_t k);
void dequantize_row_q8_K(const void * x, float * y, int64_t k);

// Deterministic xorshift so the vectors are reproducible.
static uint64_t state = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return (uint32_t)(state >> 32);
}
static float uniform(void) { return (next_u32() + 0.5f) / 4294967296.0f; }
static float gauss(void) { return sqrtf(-2.0f * logf(uniform())) * cosf(6.2831853f * uniform()); }

// Byte ranges of the scale fields (f16, f32 for Q8_K) per block, kept as the
// quantizer wrote them in the random-code blocks so every value stays finite.
struct scale_field { int type; int from; int to; };
static const struct scale_field SCALES[] = {
    {GGML_TYPE_Q4_0, 0, 2}, {GGML_TYPE_Q4_1, 0, 4}, {GGML_TYPE_Q5_0, 0, 2}, {GGML_TYPE_Q5_1, 0, 4},
    {GGML_TYPE_Q8_0, 0, 2}, {GGML_TYPE_Q2_K, 80, 84}, {GGML_TYPE_Q3_K, 108, 110}, {GGML_TYPE_Q4_K, 0, 4},
    {GGML_TYPE_Q5_K, 0, 4}, {GGML_TYPE_Q6_K, 208, 210}, {GGML_TYPE_Q8_K, 0, 4}, {GGML_TYPE_IQ4_NL, 0, 2},
    {GGML_TYPE_IQ4_XS, 0, 2}, {GGML_TYPE_TQ1_0, 52, 54}, {GGML_TYPE_TQ2_0, 64, 66},
};

// Rows quantized by the reference quantizer; then random-code blocks.
#define QUANT_ROWS 4
#define RANDOM_BLOCKS 2

static void write_file(const char * dir, const char * name, const char * ext, const void * data, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE * f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) { perror(path); exit(1); }
    fclose(f);
}

int main(int argc, char ** argv) {
    const char * dir = argc > 1 ? argv[1] : ".";
    // ggml_init fills ggml-base's f16 -> f32 table, which dequantize_row_* reads.
    struct ggml_init_params params = { 1 << 16, NULL, true };
    struct ggml_context * ctx = ggml_init(params);
    for (size_t s = 0; s < sizeof SCALES / sizeof SCALES[0]; s++) {
        const enum ggml_type type = (enum ggml_type) SCALES[s].type;
        const int64_t bs = ggml_blck_size(type);
        const size_t ts = ggml_type_size(type);
        const char * name = ggml_type_name(type);
        // One block per row: row r draws from a different distribution.
        const int64_t n = bs * QUANT_ROWS;
        float * in = calloc(n, sizeof(float));
        for (int64_t i = 0; i < n; i++) {
            const int row = (int)(i / bs);
            float v = gauss();
            if (row == 0) v *= 0.02f;                           // a typical weight scale
            if (row == 1) v = v * 0.5f + 0.25f;                 // offset: exercises mins
            if (row == 2) v = (i % 37 == 0) ? 8.0f * v : v;     // outliers
            if (row == 3) v = (i % 3 == 0) ? 0.0f : -fabsf(v);  // zeros and one sign
            in[i] = v;
        }
        const int64_t blocks = QUANT_ROWS + RANDOM_BLOCKS;
        uint8_t * q = calloc(blocks, ts);
        if (type == GGML_TYPE_Q8_K) {
            // Q8_K is an activation type that ggml_quantize_chunk does not offer: its reference quantizer.
            quantize_row_q8_K_ref(in, q, n);
        } else {
            ggml_quantize_init(type);
            ggml_quantize_chunk(type, in, q, 0, QUANT_ROWS, bs, NULL);
        }
        for (int b = 0; b < RANDOM_BLOCKS; b++) {
            uint8_t * blk = q + (QUANT_ROWS + b) * ts;
            memcpy(blk, q + b * ts, ts);  // keep block b's scale fields
            for (size_t j = 0; j < ts; j++) {
                if ((int)j >= SCALES[s].from && (int)j < SCALES[s].to) continue;
                blk[j] = (uint8_t) next_u32();
            }
        }
        float * out = calloc(blocks * bs, sizeof(float));
        if (type == GGML_TYPE_Q8_K) dequantize_row_q8_K(q, out, blocks * bs);  // no to_float in its traits
        else ggml_get_type_traits(type)->to_float(q, out, blocks * bs);
        write_file(dir, name, "in.f32", in, n * sizeof(float));
        write_file(dir, name, "q.bin", q, blocks * ts);
        write_file(dir, name, "out.f32", out, blocks * bs * sizeof(float));
        printf("%s: block %lld values, %zu bytes; %d quantized + %d random-code blocks\n", name, (long long) bs, ts, QUANT_ROWS, RANDOM_BLOCKS);
        free(in); free(q); free(out);
    }
    ggml_free(ctx);
    return 0;
}
