// Trains a network made by `symgrad codegen N0 ... NL --target c --dtype float -o net.c` on fixed
// data, the same on a host and on a Cortex-M4: parameters from net_init_params(7, params), then
// STEPS steps of gradient descent over one batch. Prints the loss before and after as the bits
// of the float in hexadecimal ("first last"), so that two builds can be compared exactly.
// Nothing but net.h, and say() for the output.
#include "net.h"
#include "say.h"

#define SAMPLES 16
#define STEPS 20

static real_t params[NET_N_PARAMS], grad[NET_N_PARAMS], work[NET_WORK_SIZE(SAMPLES)];
static real_t X[SAMPLES * NET_N_INPUTS], Y[SAMPLES * NET_N_OUTPUTS];

// A 32-bit linear congruential generator: the same numbers on every machine.
static unsigned long state = 12345UL;

static unsigned long next(void)
{
    state = (state * 1664525UL + 1013904223UL) & 0xFFFFFFFFUL;
    return state;
}

static void put_bits(real_t value, char *out)
{
    union {
        float real;
        unsigned long bits;
    } both;
    both.bits = 0;
    both.real = (float)value;
    for (int k = 0; k < 8; ++k) {
        out[k] = "0123456789abcdef"[(both.bits >> (28 - 4 * k)) & 0xFUL];
    }
}

int main(void)
{
    char line[] = "00000000 00000000\n";
    real_t loss = 0;
    if (net_work_size(SAMPLES) != NET_WORK_SIZE(SAMPLES) || net_init_params(7, params) != NET_OK) {
        say("the library's sizes are not the header's\n");
        return 1;
    }
    for (int k = 0; k < SAMPLES * NET_N_INPUTS; ++k) {
        X[k] = (real_t)(next() >> 8) * (real_t)5.9604645e-8 * 2 - 1;
    }
    for (int s = 0; s < SAMPLES; ++s) {
        Y[s * NET_N_OUTPUTS + (int)(next() >> 8) % NET_N_OUTPUTS] = 1;
    }
    for (int step = 0; step <= STEPS; ++step) {
        if (net_loss_and_gradients(params, X, Y, SAMPLES, &loss, grad, work) != NET_OK) {
            say("a call failed\n");
            return 1;
        }
        if (step == 0) {
            put_bits(loss, line);
        }
        for (int k = 0; k < NET_N_PARAMS; ++k) {
            params[k] -= (real_t)0.1 * grad[k];
        }
    }
    put_bits(loss, line + 9);
    say(line);
    return 0;
}
