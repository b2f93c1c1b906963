// snn_ram: simple dual-port synchronous RAM (one write port, one read port, registered read).
// Written in the form yosys (synth_ecp5, synth_xilinx), Vivado and Quartus infer as block RAM.
// INIT_FILE: a $readmemh file (one hex word per line) or "" for an uninitialised RAM.
// A read and a write of the same address in one cycle return the old word; the layer engine never does both.
`default_nettype none
module snn_ram #(
    parameter WIDTH = 8,
    parameter DEPTH = 16,
    parameter AW = 4,
    parameter INIT_FILE = ""
) (
    input  wire             clk,
    input  wire             we,
    input  wire [AW-1:0]    waddr,
    input  wire [WIDTH-1:0] wdata,
    input  wire             re,
    input  wire [AW-1:0]    raddr,
    output reg  [WIDTH-1:0] rdata
);
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    initial begin
        if (INIT_FILE != "") $readmemh(INIT_FILE, mem);
    end
    always @(posedge clk) begin
        if (we) mem[waddr] <= wdata;
        if (re) rdata <= mem[raddr];
    end
endmodule
`default_nettype wire
