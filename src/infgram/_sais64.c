/* The 64-bit build of the vendored SA-IS suffix sorter (see _sais_impl.h). */
#ifndef NDEBUG
#define NDEBUG /* the sorter's asserts sit in its inner loops */
#endif
#include <stdint.h>
#define sais_index_type int64_t
#define SAIS_LMSSORT2_LIMIT 0x3fffffffffffffff
#define SAIS_MAIN infgram_sais64
#include "_sais_impl.h"
