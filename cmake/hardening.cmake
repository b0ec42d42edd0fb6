# The hardening Debian builds with (dpkg-buildflags with DEB_BUILD_MAINT_OPTIONS=hardening=+all),
# for every build of parkfeed, not only the package: position-independent executables, a
# stack protector, stack clash protection, control-flow protection, glibc's checked string
# and memory functions, and a read-only relocation table resolved at start (RELRO, BIND_NOW).
# tests/integration/hardening.sh checks the binaries for each. The Debian package turns this
# off and takes the same flags from dpkg-buildflags instead (debian/rules).
include(CheckCCompilerFlag)
include(CheckLinkerFlag)
include(CheckPIESupported)

check_pie_supported(LANGUAGES C)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

# Each flag only where the compiler knows it: -fcf-protection is x86's control-flow
# protection, -mbranch-protection=standard arm64's.
foreach(flag -fstack-protector-strong -fstack-clash-protection -fcf-protection
             -mbranch-protection=standard)
  string(MAKE_C_IDENTIFIER "PF_CC_HAS${flag}" have)
  check_c_compiler_flag(${flag} ${have})
  if(${have})
    add_compile_options(${flag})
  endif()
endforeach()

# _FORTIFY_SOURCE works only with optimisation (glibc warns without it, and -Werror makes
# the warning fatal), adds nothing under AddressSanitizer (which checks the same calls), and
# must not be defined twice with different values when CFLAGS already set it.
string(TOUPPER "${CMAKE_BUILD_TYPE}" pf_build_type)
if(NOT PF_SANITIZE AND NOT PF_TSAN AND NOT CMAKE_C_FLAGS MATCHES "_FORTIFY_SOURCE"
   AND (pf_build_type MATCHES "^(RELEASE|RELWITHDEBINFO|MINSIZEREL)$"
        OR CMAKE_C_FLAGS MATCHES "(^| )-O[1-3sg]?( |$)"))
  add_compile_definitions(_FORTIFY_SOURCE=2)
endif()

check_linker_flag(C "LINKER:-z,relro,-z,now" PF_LD_HAS_RELRO_NOW)
if(PF_LD_HAS_RELRO_NOW)
  add_link_options(LINKER:-z,relro,-z,now)
endif()
