# Lay out parkfeed-api's [web] root: the files of web/ and, under vendor/, symbolic links to the
# JavaScript libraries Debian packages (libjs-leaflet, libjs-chart.js) instead of copies of them.
# Run by the build (build/web, the tree the tests and the demo serve) and by the installation,
# so both are the same tree. Script mode: cmake -DPF_WEB_SRC=... -P web_root.cmake
#
#   PF_WEB_SRC     web/ of the source tree
#   PF_WEB_DEST    the root to lay out (an installation puts it under $DESTDIR)
#   PF_JS_DIR      where the libjs-* packages put their libraries (/usr/share/javascript)
#   PF_WEB_VENDOR  the libraries, "|"-separated paths under PF_JS_DIR; each becomes
#                  vendor/<path> in the root
#   PF_WEB_FRESH   ON: empty PF_WEB_DEST first (the build tree: nothing stale stays)
foreach(var PF_WEB_SRC PF_WEB_DEST PF_JS_DIR PF_WEB_VENDOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "web_root.cmake: ${var} is not set")
  endif()
endforeach()

# The build tree is copied afresh; an installation goes through file(INSTALL), which puts it
# under DESTDIR and lists it in install_manifest.txt (the links are made under DESTDIR too).
set(pf_perms FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
    DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                          WORLD_READ WORLD_EXECUTE)
if(PF_WEB_FRESH)
  file(REMOVE_RECURSE "${PF_WEB_DEST}")
  file(COPY "${PF_WEB_SRC}/" DESTINATION "${PF_WEB_DEST}" ${pf_perms})
  set(pf_root "${PF_WEB_DEST}")
else()
  file(INSTALL "${PF_WEB_SRC}/" DESTINATION "${PF_WEB_DEST}" ${pf_perms})
  set(pf_root "$ENV{DESTDIR}${PF_WEB_DEST}")
endif()

string(REPLACE "|" ";" pf_vendor "${PF_WEB_VENDOR}")
foreach(lib IN LISTS pf_vendor)
  set(pf_link "${pf_root}/vendor/${lib}")
  get_filename_component(pf_dir "${pf_link}" DIRECTORY)
  file(MAKE_DIRECTORY "${pf_dir}")
  file(REMOVE "${pf_link}")
  file(CREATE_LINK "${PF_JS_DIR}/${lib}" "${pf_link}" SYMBOLIC)
  # Installing into a staging tree (a package build) needs no library; the build tree does.
  if(PF_WEB_FRESH AND NOT EXISTS "${PF_JS_DIR}/${lib}")
    message(WARNING "${PF_JS_DIR}/${lib} does not exist: the web page needs it "
                    "(scripts/deps.sh installs libjs-leaflet and libjs-chart.js)")
  endif()
endforeach()
