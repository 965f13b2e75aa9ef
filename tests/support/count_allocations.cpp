// Counts every allocation a process makes (malloc, calloc, realloc,
// aligned allocations and C++ operator new), for the test that proves the
// three programs allocate nothing per task (allocation_test.cpp). LD_PRELOAD
// it; at exit it appends "<program> <allocations>" to
// $ZPIPE_COUNT_ALLOCATIONS_TO.
// Each call is passed on to the allocator that comes next (jemalloc where
// the programs link it, else glibc's), and operator new goes straight to
// that malloc, so no allocation is counted twice.
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {

std::atomic<unsigned long long> allocations{0};

using Malloc = void* (*)(std::size_t);
using Calloc = void* (*)(std::size_t, std::size_t);
using Realloc = void* (*)(void*, std::size_t);
using Free = void (*)(void*);
using Memalign = int (*)(void**, std::size_t, std::size_t);
using AlignedAlloc = void* (*)(std::size_t, std::size_t);

Malloc next_malloc = nullptr;
Calloc next_calloc = nullptr;
Realloc next_realloc = nullptr;
Free next_free = nullptr;
Memalign next_memalign = nullptr;
AlignedAlloc next_aligned_alloc = nullptr;

// dlsym may calloc before next_calloc is known: a few bytes from here.
alignas(16) char early[4096];
std::size_t early_used = 0;
bool in_early(void* p) { return p >= early && p < early + sizeof early; }

void find_next() {
  if (next_malloc != nullptr) return;
  next_calloc = reinterpret_cast<Calloc>(dlsym(RTLD_NEXT, "calloc"));
  next_malloc = reinterpret_cast<Malloc>(dlsym(RTLD_NEXT, "malloc"));
  next_realloc = reinterpret_cast<Realloc>(dlsym(RTLD_NEXT, "realloc"));
  next_free = reinterpret_cast<Free>(dlsym(RTLD_NEXT, "free"));
  next_memalign = reinterpret_cast<Memalign>(dlsym(RTLD_NEXT, "posix_memalign"));
  next_aligned_alloc = reinterpret_cast<AlignedAlloc>(dlsym(RTLD_NEXT, "aligned_alloc"));
}

void* counted(void* p) {
  if (p != nullptr) allocations.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void* new_of(std::size_t size) {
  find_next();
  void* p = counted(next_malloc(size == 0 ? 1 : size));
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

struct Report {
  ~Report() {
    const char* path = std::getenv("ZPIPE_COUNT_ALLOCATIONS_TO");
    if (path == nullptr) return;
    char program[256] = {};
    const ssize_t length = readlink("/proc/self/exe", program, sizeof program - 1);
    if (length > 0) program[length] = '\0';
    const char* name = std::strrchr(program, '/');
    if (FILE* out = std::fopen(path, "a")) {
      std::fprintf(out, "%s %llu\n", name != nullptr ? name + 1 : program, allocations.load());
      std::fclose(out);
    }
  }
} report;

}  // namespace

extern "C" {

void* malloc(std::size_t size) {
  find_next();
  return counted(next_malloc(size));
}

void* calloc(std::size_t count, std::size_t size) {
  if (next_calloc == nullptr) {
    if (next_malloc == nullptr && early_used == 0) {  // dlsym's own calloc, while we look for calloc
      early_used = (count * size + 15) / 16 * 16;
      if (early_used <= sizeof early) return early;
    }
    find_next();
  }
  return counted(next_calloc(count, size));
}

void* realloc(void* p, std::size_t size) {
  find_next();
  if (!in_early(p)) return counted(next_realloc(p, size));
  // The early buffer is not the next allocator's: move its bytes over.
  void* moved = counted(next_malloc(size));
  if (moved != nullptr) std::memcpy(moved, p, size < early_used ? size : early_used);
  return moved;
}

void free(void* p) {
  if (p == nullptr || in_early(p)) return;
  find_next();
  next_free(p);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  find_next();
  const int error = next_memalign(out, alignment, size);
  if (error == 0) counted(*out);
  return error;
}

void* aligned_alloc(std::size_t alignment, std::size_t size) {
  find_next();
  return counted(next_aligned_alloc(alignment, size));
}

}  // extern "C"

void* operator new(std::size_t size) { return new_of(size); }
void* operator new[](std::size_t size) { return new_of(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  find_next();
  return counted(next_malloc(size == 0 ? 1 : size));
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  find_next();
  return counted(next_malloc(size == 0 ? 1 : size));
}
void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, std::size_t) noexcept { free(p); }
void operator delete[](void* p, std::size_t) noexcept { free(p); }
