// The host's say(): stdout.
#include <stdio.h>

#include "say.h"

void say(const char *text)
{
    fputs(text, stdout);
}
