/*
 * fuzz_frame.c - the chunk frame decoder must reject or decode any input without crashing,
 * over-reading or allocating more than the declared limit; a decoded frame re-encodes to the
 * same plaintext.
 */
#include <stdlib.h>

#include "chunk/chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_buf plain = CAIRN_BUF_INIT, frame = CAIRN_BUF_INIT, again = CAIRN_BUF_INIT;
    if (frame_decode(&plain, data, size) == CAIRN_OK) {
        if (frame_encode(&frame, plain.data, plain.len, 1) != CAIRN_OK) abort();
        if (frame_decode(&again, frame.data, frame.len) != CAIRN_OK) abort();
        if (again.len != plain.len || (plain.len && memcmp(again.data, plain.data, plain.len)))
            abort();
    }
    cairn_buf_dispose(&plain);
    cairn_buf_dispose(&frame);
    cairn_buf_dispose(&again);
    return 0;
}
