// Writable shared mappings of a simulated file (docs/disk-model.md, "Shared
// file mappings"): stores reach the file, read() sees them, pwrite() is seen
// through the mapping, msync(MS_SYNC) is durable across a power loss.
//
//   mmap_shared write FILE   maps FILE (4 pages): page 0 stored and
//                            msync'ed, page 1 pwritten, pages 2-3 stored and
//                            written back without a sync (MS_ASYNC), page 3
//                            also overwritten by pwrite; then sleeps 10 s
//                            (a --crash-at before that cuts the power)
//   mmap_shared exit FILE    stores into page 0 and exits without msync or
//                            munmap (the exit writes it back)
//   mmap_shared check FILE   after a power loss: page 0 must hold its
//                            msync'ed bytes; says what became of pages 1-3
//   mmap_shared show FILE    prints page 0's text, read both ways
//   mmap_shared remap FILE   grows a mapping with mremap, unmaps a page in
//                            the middle, stores on both sides
// Exit 0 on success, 1 on a failed check.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096
#define PAGES 4

static int failures = 0;

static void expect(int ok, const char* what) {
    printf("%s: %s\n", what, ok ? "ok" : "FAILED");
    if (!ok) failures = 1;
}

static char* map_file(int fd, size_t length, int prot) {
    char* map = mmap(NULL, length, prot, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        printf("mmap: %s\n", strerror(errno));
        exit(1);
    }
    return map;
}

static int page_is(int fd, int page, const char* text) {
    char buffer[PAGE];
    if (pread(fd, buffer, PAGE, (off_t)page * PAGE) != PAGE) return 0;
    return memcmp(buffer, text, strlen(text) + 1) == 0;
}

static int write_mode(const char* path) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, PAGES * PAGE) != 0 || fsync(fd) != 0) return perror("set-up"), 1;
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", path);
    char* slash = strrchr(parent, '/');
    if (slash != NULL) *slash = '\0';
    int dir = open(slash != NULL ? parent : ".", O_RDONLY | O_DIRECTORY);
    if (dir < 0 || fsync(dir) != 0) return perror("directory fsync"), 1;
    close(dir);
    char* map = map_file(fd, PAGES * PAGE, PROT_READ | PROT_WRITE);
    // The program's descriptor may go: the mapping stays usable.
    close(fd);
    fd = open(path, O_RDWR);
    strcpy(map, "synced page 0");
    expect(msync(map, PAGE, MS_SYNC) == 0, "msync MS_SYNC");
    expect(page_is(fd, 0, "synced page 0"), "read() sees the msync'ed store");
    strcpy(map + PAGE * 2, "unsynced page 2");
    expect(page_is(fd, 2, "unsynced page 2"), "read() sees a store without msync");
    const char written[] = "pwritten page 1";
    expect(pwrite(fd, written, sizeof written, PAGE) == (ssize_t)sizeof written, "pwrite");
    expect(strcmp(map + PAGE, written) == 0, "the mapping sees the pwrite");
    strcpy(map + PAGE * 3, "stored page 3");
    expect(msync(map + PAGE * 2, PAGE * 2, MS_ASYNC) == 0, "msync MS_ASYNC");
    lseek(fd, PAGE * 3 + 7, SEEK_SET);
    expect(write(fd, "PAGE", 4) == 4, "write");
    expect(strcmp(map + PAGE * 3, "stored PAGE 3") == 0, "the mapping sees the write");
    // A second mapping of the same file sees the first one's stores.
    char* second = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, PAGE * 2);
    expect(second != MAP_FAILED && strcmp(second, "unsynced page 2") == 0, "a second mapping sees the stores");
    char* readonly_write = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, open(path, O_RDONLY), 0);
    expect(readonly_write == MAP_FAILED && errno == EACCES, "PROT_WRITE on a read-only descriptor: EACCES");
    fflush(stdout);
    sleep(10);  // the power goes out here under --crash-at
    expect(munmap(map, PAGES * PAGE) == 0 && munmap(second, PAGE) == 0, "munmap");
    return failures;
}

static int check_mode(const char* path) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return perror(path), 1;
    expect(st.st_size == PAGES * PAGE, "the size survives");
    expect(page_is(fd, 0, "synced page 0"), "the msync'ed page survives");
    static const char* pages[] = {"pwritten page 1", "unsynced page 2", "stored PAGE 3"};
    for (int page = 1; page < PAGES; ++page) {
        char buffer[PAGE];
        const char* wanted = pages[page - 1];
        const int got = pread(fd, buffer, PAGE, (off_t)page * PAGE) == PAGE;
        const int kept = got && memcmp(buffer, wanted, strlen(wanted) + 1) == 0;
        const int zero = got && buffer[0] == 0;
        printf("page %d: %s\n", page, kept ? "kept" : zero ? "lost" : "other");
    }
    // A read-only shared mapping shows what read() shows.
    char* map = map_file(fd, PAGES * PAGE, PROT_READ);
    char buffer[PAGE];
    expect(pread(fd, buffer, PAGE, 0) == PAGE && memcmp(map, buffer, PAGE) == 0, "the mapping matches read()");
    return failures;
}

static int exit_mode(const char* path) {
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0 || ftruncate(fd, PAGE) != 0) return perror(path), 1;
    char* map = map_file(fd, PAGE, PROT_READ | PROT_WRITE);
    strcpy(map, "stored before exit");
    return 0;  // no msync, no munmap: the exit writes it back
}

static int show_mode(const char* path) {
    int fd = open(path, O_RDONLY);
    char buffer[PAGE] = {0};
    if (fd < 0 || read(fd, buffer, PAGE - 1) < 0) return perror(path), 1;
    char* map = map_file(fd, PAGE, PROT_READ);
    printf("read: %s\nmapped: %s\n", buffer, map);
    return strcmp(buffer, map) != 0;
}

static int remap_mode(const char* path) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, PAGES * PAGE) != 0) return perror(path), 1;
    char* map = map_file(fd, PAGE, PROT_READ | PROT_WRITE);
    strcpy(map, "first");
    map = mremap(map, PAGE, PAGES * PAGE, MREMAP_MAYMOVE);
    expect(map != MAP_FAILED, "mremap grows the mapping");
    expect(strcmp(map, "first") == 0, "the store moved with it");
    strcpy(map + PAGE * 3, "last");
    expect(munmap(map + PAGE, PAGE) == 0, "munmap of a middle page");
    strcpy(map + PAGE * 3, "last again");
    expect(page_is(fd, 0, "first") && page_is(fd, 3, "last again"), "both sides written back");
    expect(munmap(map, PAGE) == 0 && munmap(map + PAGE * 2, PAGE * 2) == 0, "munmap of the rest");
    return failures;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: mmap_shared write|exit|check|show|remap FILE\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(argv[1], "write") == 0) return write_mode(argv[2]);
    if (strcmp(argv[1], "check") == 0) return check_mode(argv[2]);
    if (strcmp(argv[1], "exit") == 0) return exit_mode(argv[2]);
    if (strcmp(argv[1], "show") == 0) return show_mode(argv[2]);
    if (strcmp(argv[1], "remap") == 0) return remap_mode(argv[2]);
    fprintf(stderr, "mmap_shared: unknown mode %s\n", argv[1]);
    return 2;
}
