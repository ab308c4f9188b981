// Computes, with nothing but C, the loss of a network made by `symgrad codegen --target c -o
// net.c` at the parameters of weights.h (written by `symgrad export-weights ... -o weights.h`),
// on the rows of data.h (BATCH, X and Y, written by tests/test_c_microcontroller.py). Prints the
// loss as a hexadecimal floating literal: every bit of it.
#include <stdio.h>

#include "net.h"

#include "data.h" // after net.h: it uses real_t
#include "weights.h"

int main(void)
{
    static real_t work[NET_WORK_SIZE(BATCH)];
    real_t loss = 0;
    if (net_loss(net_weights, X, Y, BATCH, &loss, work) != NET_OK) {
        return 1;
    }
    printf("%a\n", (double)loss);
    return 0;
}
