# The Debian package, hush-relay_VERSION_ARCH.deb, with CPack's DEB generator (deploy/package.sh
# builds it from the Release tree; deploy/package-test.sh installs, runs and purges it).
# CPack rather than a debian/ directory: the package comes from the same CMake build the tests
# ran, with no second build and no debhelper; dpkg-shlibdeps still finds the dependencies from
# what the binaries link.
find_program(HUSH_HELP2MAN help2man)
find_program(HUSH_GZIP gzip)
set(pkg ${PROJECT_BINARY_DIR}/package)
if(HUSH_HELP2MAN AND TARGET hush-probe)
  # Man pages: help2man from --help, and for hush-relay the detail of docs/configuration.md.
  add_custom_command(
    OUTPUT ${pkg}/hush-relay.8.gz ${pkg}/hush-probe.1.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${pkg}
    COMMAND python3 ${PROJECT_SOURCE_DIR}/deploy/debian/man-include.py ${PROJECT_SOURCE_DIR}/docs/configuration.md
            > ${pkg}/hush-relay.h2m
    COMMAND ${HUSH_HELP2MAN} -N -s 8 -n "TURN/STUN media relay built for privacy" --include=${pkg}/hush-relay.h2m
            -o ${pkg}/hush-relay.8 $<TARGET_FILE:hush-relay>
    COMMAND ${HUSH_HELP2MAN} -N -s 1 -n "check a TURN relay over every transport" --no-discard-stderr
            --version-string=${PROJECT_VERSION} -o ${pkg}/hush-probe.1 $<TARGET_FILE:hush-probe>
    COMMAND ${HUSH_GZIP} -9nf ${pkg}/hush-relay.8 ${pkg}/hush-probe.1
    DEPENDS hush-relay hush-probe ${PROJECT_SOURCE_DIR}/docs/configuration.md
            ${PROJECT_SOURCE_DIR}/deploy/debian/man-include.py
    VERBATIM)
  add_custom_target(hush-manpages DEPENDS ${pkg}/hush-relay.8.gz ${pkg}/hush-probe.1.gz)
  install(FILES ${pkg}/hush-relay.8.gz DESTINATION share/man/man8 COMPONENT package OPTIONAL)
  install(FILES ${pkg}/hush-probe.1.gz DESTINATION share/man/man1 COMPONENT package OPTIONAL)
endif()

# The unit as deploy/systemd has it, starting the packaged binary.
file(READ ${PROJECT_SOURCE_DIR}/deploy/systemd/hush-relay.service unit)
string(REPLACE "/usr/local/bin/" "/usr/bin/" unit "${unit}")
file(WRITE ${pkg}/hush-relay.service "${unit}")
string(TIMESTAMP date "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE ${pkg}/changelog
     "hush-relay (${PROJECT_VERSION}) unstable; urgency=medium\n\n  * Package built from the hush repository; history in its git log.\n\n"
     " -- hush developers <hush-relay@users.noreply.github.com>  ${date}\n")
install(CODE "execute_process(COMMAND ${HUSH_GZIP} -9nf ${pkg}/changelog)" COMPONENT package)
install(FILES ${pkg}/hush-relay.service DESTINATION /lib/systemd/system COMPONENT package)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/hush-relay.sysusers DESTINATION lib/sysusers.d
        RENAME hush-relay.conf COMPONENT package)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/hush-relay.conf DESTINATION /etc/hush COMPONENT package)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/copyright ${pkg}/changelog.gz
        DESTINATION share/doc/hush-relay COMPONENT package)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hush-relay)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "hush developers <hush-relay@users.noreply.github.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "TURN/STUN media relay built for privacy")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "hush relays the media of calls (TURN, RFC 8656; STUN, RFC 8489) for Matrix,\n"
    "Nextcloud Talk, Jitsi and SIP softphones without holding their keys: payloads\n"
    "leave as they came. It writes nothing about calls to disk, keeps addresses\n"
    "out of logs and metrics, pads TLS and DTLS legs, and accepts coturn's REST\n"
    "shared-secret credentials (hush-relay import-coturn translates a\n"
    "turnserver.conf).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES TRUE)
# The binaries and the package's own files, not the test programs.
set(CPACK_COMPONENTS_ALL Unspecified package)
set(CPACK_DEB_COMPONENT_INSTALL OFF)
include(CPack)
