# Fails if any file under core/ reaches outside: libuv, threads, sockets, files, real clocks,
# entropy, the environment. Run by ctest as `core_purity`.
file(GLOB_RECURSE files ${ROOT}/core/*.hpp ${ROOT}/core/*.cpp ${ROOT}/core/*.h)
set(patterns
  "#include <uv\\.h>" "#include <thread>" "#include <mutex>" "#include <future>"
  "#include <condition_variable>" "#include <sys/socket\\.h>" "#include <netinet/"
  "#include <arpa/inet\\.h>" "#include <fstream>" "#include <filesystem>" "#include <random>"
  "#include <unistd\\.h>" "#include <fcntl\\.h>" "#include <chrono>" "#include <ctime>"
  "system_clock" "steady_clock" "high_resolution_clock" "std::random_device" "getenv\\("
  "fopen\\(" "std::thread" "time\\(nullptr\\)" "rand\\(\\)")
set(bad "")
foreach(f ${files})
  file(READ ${f} text)
  foreach(p ${patterns})
    if(text MATCHES "${p}")
      list(APPEND bad "${f}: matches '${p}'")
    endif()
  endforeach()
endforeach()
if(bad)
  list(JOIN bad "\n" msg)
  message(FATAL_ERROR "core/ is not pure:\n${msg}")
endif()
list(LENGTH files n)
message(STATUS "core purity: ${n} files checked, none reach outside")
