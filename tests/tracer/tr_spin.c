/* tests/tracer/tr_spin.c — allocates forever (until killed); prints "go"
 * once it is running so the test knows when to SIGKILL it. With an argument
 * N it stops after N malloc/free pairs, prints "go" and waits to be killed,
 * making no more heap calls. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    static void *p[1024];
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 0;
    unsigned long i = 0;
    for (;;) {
        unsigned k = (unsigned)(i * 2654435761u) % 1024;
        free(p[k]);
        p[k] = malloc(16 + i % 300);
        if (++i == (n ? n : 2000000)) {
            printf("go\n");
            fflush(stdout);
            if (n)
                for (;;)
                    pause();
        }
    }
}
