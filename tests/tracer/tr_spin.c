/* tests/tracer/tr_spin.c — allocates forever (until killed); prints "go"
 * once it is running so the test knows when to SIGKILL it. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(void)
{
    static void *p[1024];
    unsigned long i = 0;
    for (;;) {
        unsigned k = (unsigned)(i * 2654435761u) % 1024;
        free(p[k]);
        p[k] = malloc(16 + i % 300);
        if (++i == 2000000) {
            printf("go\n");
            fflush(stdout);
        }
    }
}
