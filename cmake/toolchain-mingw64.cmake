# Cross-compiling sluice for 64-bit Windows with mingw-w64 on Linux
# (Debian: gcc-mingw-w64-x86-64). Used by the `windows` preset:
#   cmake --preset windows && cmake --build --preset windows
# When Wine is installed it becomes the CMAKE_CROSSCOMPILING_EMULATOR, so
# ctest in the build directory runs the .exe test programs under Wine.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(SLUICE_MINGW_TRIPLE x86_64-w64-mingw32 CACHE STRING "mingw-w64 target triple")
set(CMAKE_C_COMPILER ${SLUICE_MINGW_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${SLUICE_MINGW_TRIPLE}-g++)
set(CMAKE_RC_COMPILER ${SLUICE_MINGW_TRIPLE}-windres)

# Headers and libraries come from the mingw sysroot; programs from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${SLUICE_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Link the compiler runtime statically: the .exe files then need no
# mingw DLL next to them, under Wine or on a user's machine.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static-libgcc")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc")

if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
  find_program(SLUICE_WINE NAMES wine wine64 PATHS /usr/lib/wine NO_CMAKE_FIND_ROOT_PATH)
  if(SLUICE_WINE)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${SLUICE_WINE})
  endif()
endif()
