/*
 * tests/tracer/tr_dlopen.c — dlopen a module (path in argv[1]) that
 * allocates, free its block, dlclose. Prints the result.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        printf("dlopen failed\n");
        return 1;
    }
    void *(*make)(size_t) = (void *(*)(size_t))dlsym(h, "tr_dlmod_make");
    for (int i = 0; i < 10; i++)
        free(make(1000 + i));
    dlclose(h);
    printf("dlopen ok\n");
    return argc > 2 ? atoi(argv[2]) : 0;
}
