// tests/tracer/tr_cxx.cpp — C++ new/delete/new[]/delete[], aligned new, and a
// thrown exception (the runtime allocates the exception object with malloc
// via __cxa_allocate_exception). Prints what it caught.
#include <cstdio>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

struct alignas(64) Wide { char c[64]; };

// volatile sinks: the compiler may not elide these new/delete pairs
Wide *volatile wide_sink;
int *volatile int_sink;

int main()
{
    std::vector<std::string> v;
    for (int i = 0; i < 100; i++)
        v.push_back(std::string(50 + i, 'x'));
    int_sink = new int[1000];
    delete[] int_sink;
    wide_sink = new Wide;
    delete wide_sink;
    int caught = 0;
    for (int i = 0; i < 10; i++) {
        try {
            throw std::runtime_error(std::string(100, 'e'));
        } catch (const std::exception &e) {
            caught++;
        }
    }
    std::printf("caught %d, %zu strings\n", caught, v.size());
    return 0;
}
