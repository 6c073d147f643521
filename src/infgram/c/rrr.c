/* rrr.c: the tables of the RRR block code (see rrr.h). */
#include "rrr.h"

uint64_t rrr_binomial[64][64];
int rrr_width[64];

void rrr_tables_init(void) {
    for (int n = 0; n < 64; n++) {
        rrr_binomial[n][0] = 1;
        for (int k = 1; k < 64; k++) rrr_binomial[n][k] = n == 0 ? 0 : rrr_binomial[n - 1][k - 1] + rrr_binomial[n - 1][k];
    }
    for (int k = 0; k < 64; k++) {
        uint64_t count = rrr_binomial[RRR_BLOCK_BITS][k];
        int width = 0;
        while (width < 63 && ((uint64_t)1 << width) < count) width++;
        rrr_width[k] = width; /* ceil(log2(count)); 0 when count is 1 */
    }
}
