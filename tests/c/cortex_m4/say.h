// Output of the test programs: one text at a time (stdout on the host, semihosting on the
// Cortex-M4 under QEMU).
#ifndef SAY_H
#define SAY_H

void say(const char *text);

#endif
