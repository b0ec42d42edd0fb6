# parkfeed-api's web page. web/ holds the page; the JavaScript libraries come from Debian's
# packages (libjs-leaflet, libjs-chart.js, which the .deb depends on) as symbolic links, as
# Debian's JavaScript policy asks. cmake/web_root.cmake lays out both the installed tree
# (${CMAKE_INSTALL_DATADIR}/parkfeed/web) and build/web, which the tests and the demo serve.
set(PF_JS_DIR "/usr/share/javascript" CACHE PATH "Where Debian's libjs-* packages put their libraries")
set(PF_WEB_VENDOR "leaflet/leaflet.min.js|leaflet/leaflet.css|chart.js/chart.min.js")

file(GLOB_RECURSE pf_web_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/web/*)
set(pf_web_args -DPF_WEB_SRC=${PROJECT_SOURCE_DIR}/web -DPF_JS_DIR=${PF_JS_DIR}
                -DPF_WEB_VENDOR=${PF_WEB_VENDOR})
add_custom_command(
  OUTPUT ${PROJECT_BINARY_DIR}/web.stamp
  COMMAND ${CMAKE_COMMAND} ${pf_web_args} -DPF_WEB_DEST=${PROJECT_BINARY_DIR}/web
          -DPF_WEB_FRESH=ON -P ${PROJECT_SOURCE_DIR}/cmake/web_root.cmake
  COMMAND ${CMAKE_COMMAND} -E touch ${PROJECT_BINARY_DIR}/web.stamp
  DEPENDS ${pf_web_files} ${PROJECT_SOURCE_DIR}/cmake/web_root.cmake
  COMMENT "Laying out the web page in build/web"
  VERBATIM)
add_custom_target(pf-web ALL DEPENDS ${PROJECT_BINARY_DIR}/web.stamp)

install(CODE "
  set(PF_WEB_SRC \"${PROJECT_SOURCE_DIR}/web\")
  set(PF_WEB_DEST \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/parkfeed/web\")
  set(PF_JS_DIR \"${PF_JS_DIR}\")
  set(PF_WEB_VENDOR \"${PF_WEB_VENDOR}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/web_root.cmake\")
")
