// Event bits: the Linux EPOLL* values (uapi/linux/eventpoll.h), the same on
// every architecture. Every backend reports readiness in these bits.
export const EPOLLIN: u32 = 0x001;
export const EPOLLOUT: u32 = 0x004;
export const EPOLLERR: u32 = 0x008;
export const EPOLLHUP: u32 = 0x010;
export const EPOLLRDHUP: u32 = 0x2000;
export const EPOLLONESHOT: u32 = 0x40000000;
export const EPOLLET: u32 = 0x80000000;
