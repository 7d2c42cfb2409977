# Warnings every sluice target gets. -Werror is left to CI-like builds
# (SLUICE_WERROR) so a new compiler's new warning does not break users.
option(SLUICE_WERROR "Treat warnings as errors" OFF)
function(sluice_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow
    -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter)
  if(SLUICE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
