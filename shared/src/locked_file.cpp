// See locked_file.hpp.
#include "zpipe/locked_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace zpipe {
namespace {

// The files this process holds locked, by device and inode. A POSIX record
// lock belongs to the process, not to a descriptor: a second lock of the
// same file by this process succeeds, and closing any descriptor of the file
// drops the lock. So a second open in this process (one path given as both
// --output and --journal) must be caught here, before it makes a descriptor.
using FileKey = std::pair<dev_t, ino_t>;

struct HeldFiles {
  std::mutex mutex;
  std::map<FileKey, std::string> what;  // how the holder named it
};

HeldFiles& held_files() {
  static HeldFiles files;
  return files;
}

std::string already_held_message(const std::string& path, std::string_view what, const std::string& holder) {
  return std::string(what) + " " + path + " is already open in this process as " + holder +
         "; give each its own file";
}

void refuse_if_held(const struct stat& status, const std::string& path, std::string_view what) {
  HeldFiles& files = held_files();
  const std::lock_guard lock(files.mutex);
  const auto found = files.what.find({status.st_dev, status.st_ino});
  if (found != files.what.end()) throw std::runtime_error(already_held_message(path, what, found->second));
}

// Opens the path read-write, creating it when it does not exist; sets
// `created` when this call created it. Returns -1 with errno set on failure.
int open_or_create(const std::string& path, mode_t mode, bool& created) {
  // Someone may remove the file between our two tries; a few rounds settle it.
  for (int round = 0; round < 4; ++round) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0) {
      created = true;
      return fd;
    }
    if (errno != EEXIST) return -1;
    const int existing = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (existing >= 0 || errno != ENOENT) return existing;
  }
  return -1;
}

flock whole_file_write_lock() {
  flock lock{};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 0;  // to the end, however far the file grows
  return lock;
}

}  // namespace

LockedFile LockedFile::open(const std::string& path, std::string_view what, mode_t mode) {
  struct stat existing {};
  if (::stat(path.c_str(), &existing) == 0) refuse_if_held(existing, path, what);
  bool created = false;
  const int fd = open_or_create(path, mode, created);
  if (fd < 0)
    throw std::runtime_error("cannot open " + std::string(what) + " " + path + ": " + std::strerror(errno) +
                             "; check the path and its permissions");
  LockedFile file(fd, path, what);  // closes the descriptor if what follows throws
  file.created_ = created;
  file.lock();
  if (created) sync_directory(path, what);
  return file;
}

LockedFile::LockedFile(int fd, std::string path, std::string_view what)
    : fd_(fd), path_(std::move(path)), what_(what) {}

void LockedFile::lock() {
  struct stat status {};
  if (::fstat(fd_, &status) != 0)
    throw std::runtime_error("cannot inspect " + what_ + " " + path_ + ": " + std::strerror(errno));
  regular_ = S_ISREG(status.st_mode);
  if (!regular_) return;
  device_ = status.st_dev;
  inode_ = status.st_ino;
  {
    HeldFiles& files = held_files();
    const std::lock_guard guard(files.mutex);
    const auto [found, inserted] = files.what.try_emplace({device_, inode_}, what_);
    if (!inserted) {
      // The path was replaced by a file this process holds between the
      // stat() in open() and now. Closing this descriptor would drop the
      // holder's lock, so it is left open: one descriptor, once, in a race.
      const std::string message = already_held_message(path_, what_, found->second);
      fd_ = -1;
      throw std::runtime_error(message);
    }
    registered_ = true;
  }
  flock lock = whole_file_write_lock();
  if (::fcntl(fd_, F_SETLK, &lock) == 0) return;
  if (errno != EACCES && errno != EAGAIN)
    throw std::runtime_error("cannot lock " + what_ + " " + path_ + ": " + std::strerror(errno));
  // Ask who holds it, for the message. The holder may let go meanwhile, in
  // which case the lock is ours after all.
  for (int round = 0; round < 4; ++round) {
    flock holder = whole_file_write_lock();
    if (::fcntl(fd_, F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK && holder.l_pid > 0)
      throw std::runtime_error(what_ + " " + path_ + " is in use by process " + std::to_string(holder.l_pid) +
                               " (another zpipe-sink?); stop it or choose another file");
    lock = whole_file_write_lock();
    if (::fcntl(fd_, F_SETLK, &lock) == 0) return;
  }
  throw std::runtime_error(what_ + " " + path_ + " is in use by another process (another zpipe-sink?); stop it or "
                           "choose another file");
}

LockedFile::~LockedFile() { release(); }

LockedFile::LockedFile(LockedFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      what_(std::move(other.what_)),
      created_(other.created_),
      regular_(other.regular_),
      registered_(std::exchange(other.registered_, false)),
      device_(other.device_),
      inode_(other.inode_) {}

LockedFile& LockedFile::operator=(LockedFile&& other) noexcept {
  if (this == &other) return *this;
  release();
  fd_ = std::exchange(other.fd_, -1);
  path_ = std::move(other.path_);
  what_ = std::move(other.what_);
  created_ = other.created_;
  regular_ = other.regular_;
  registered_ = std::exchange(other.registered_, false);
  device_ = other.device_;
  inode_ = other.inode_;
  return *this;
}

void LockedFile::release() noexcept {
  if (fd_ >= 0) ::close(fd_);  // drops the lock
  fd_ = -1;
  if (!registered_) return;
  HeldFiles& files = held_files();
  const std::lock_guard guard(files.mutex);
  files.what.erase({device_, inode_});
  registered_ = false;
}

void LockedFile::truncate() {
  if (!regular_) return;
  if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) < 0)
    throw std::runtime_error("cannot empty " + what_ + " " + path_ + ": " + std::strerror(errno));
}

void sync_directory(const std::string& file_path, std::string_view what) {
  std::filesystem::path directory = std::filesystem::path(file_path).parent_path();
  if (directory.empty()) directory = ".";
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    throw std::runtime_error("cannot open the directory of " + std::string(what) + " " + file_path + ": " +
                             std::strerror(errno));
  const int synced = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  // Some file systems cannot sync a directory (EINVAL) and need not.
  if (synced != 0 && error != EINVAL)
    throw std::runtime_error("cannot sync the directory of " + std::string(what) + " " + file_path + ": " +
                             std::strerror(error));
}

}  // namespace zpipe
