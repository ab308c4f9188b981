// Start-up code of the Cortex-M4 test program for QEMU's mps2-an386 board: the vector table,
// a reset handler that turns the floating-point unit on, copies .data and clears .bss before
// main, and the semihosting calls through which the program writes its output and ends QEMU.
// Built by tests/test_c_microcontroller.py with gnu99 (inline assembly), nothing else.
#include "say.h"

extern unsigned long __data_start__, __data_end__, __data_load__, __bss_start__, __bss_end__;
extern unsigned long __stack_top__;

int main(void);

// ARM semihosting: operation in r0, its argument in r1, then the breakpoint 0xab.
static int semihost(int operation, const void *argument)
{
    register int r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void say(const char *text)
{
    semihost(0x04, text); // SYS_WRITE0: a text ending in a zero byte
}

static void stop(int failed)
{
    // SYS_EXIT: "application exit" ends QEMU with status 0, a run-time error with status 1.
    semihost(0x18, (const void *)(failed ? 0x20023UL : 0x20026UL));
    for (;;) {
    }
}

static void reset(void)
{
    // CPACR: full access to the coprocessors 10 and 11 (the single-precision FPU).
    *(volatile unsigned long *)0xE000ED88UL |= 0xFUL << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    unsigned long *from = &__data_load__;
    for (unsigned long *to = &__data_start__; to < &__data_end__;) {
        *to++ = *from++;
    }
    for (unsigned long *to = &__bss_start__; to < &__bss_end__;) {
        *to++ = 0;
    }
    stop(main() != 0);
}

static void fault(void)
{
    say("fault\n");
    stop(1);
}

// The initial stack pointer, then reset, NMI, hard fault, memory, bus and usage faults.
__attribute__((section(".vectors"), used)) static void (*const vectors[])(void) = {
    (void (*)(void))(unsigned long)&__stack_top__, reset, fault, fault, fault, fault, fault,
};
