/* ole32mem's version, shared by the public header and the VERSIONINFO resource. */
#ifndef OLE32MEM_VERSION_H_
#define OLE32MEM_VERSION_H_

#define OLE32MEM_VERSION_MAJOR 1
#define OLE32MEM_VERSION_MINOR 0
#define OLE32MEM_VERSION_PATCH 0
#define OLE32MEM_VERSION_STRING "1.0.0"

/* 0xMMmmpp00: compares numerically. */
#define OLE32MEM_VERSION                                                                                               \
    ((OLE32MEM_VERSION_MAJOR << 24) | (OLE32MEM_VERSION_MINOR << 16) | (OLE32MEM_VERSION_PATCH << 8))

#endif /* OLE32MEM_VERSION_H_ */
